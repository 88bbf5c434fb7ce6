"""What the data means: the layer catalogue, grading rules, aggregation."""
