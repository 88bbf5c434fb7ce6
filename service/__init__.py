"""How it is served: the FastAPI app, its routers and the onemap command line."""
