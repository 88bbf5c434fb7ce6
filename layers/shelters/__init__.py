"""Shelters for planners: area per resident, walking coverage, gaps and where to build."""
