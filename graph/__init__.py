"""The knowledge graph: official taxonomies (industries, regions) and, built on
them, the enterprise / policy / tag graph used for candidates and explanations."""

from graph.errors import GraphError, UnknownCode
from graph.taxonomy import NATIONAL, Industry, Region, Scope, Zone, industries, regions

__all__ = ["GraphError", "UnknownCode", "NATIONAL", "Industry", "Region", "Scope", "Zone", "industries", "regions"]
