"""The knowledge graph: official taxonomies (industries, regions) and, built on
them, the enterprise / policy / tag graph used for candidates and explanations."""

from graph.errors import GraphError, UnknownCode
from graph.taxonomy import Industry, Region, industries, regions

__all__ = ["GraphError", "UnknownCode", "Industry", "Region", "industries", "regions"]
