"""Field mappings: YAML routes admins edit, validated at file:line, applied to records."""

from bridge.mapping.apply import Preview, Row, Step, apply_route, preview_route
from bridge.mapping.conflict import winner
from bridge.mapping.files import (
    Report,
    check_folder,
    dump_document,
    load_document,
    load_routes,
    save_mapping,
)
from bridge.mapping.jsonschema import mapping_json_schema
from bridge.mapping.loader import Describe, Loaded, check_text
from bridge.mapping.model import BRIDGE_FIELDS, TO_SOURCE, TO_TARGET, FieldMap, Route, Side
from bridge.mapping.problems import MappingError, Problem, RecordInvalid

__all__ = [
    "BRIDGE_FIELDS",
    "TO_SOURCE",
    "TO_TARGET",
    "Describe",
    "FieldMap",
    "Loaded",
    "MappingError",
    "Preview",
    "Problem",
    "RecordInvalid",
    "Report",
    "Route",
    "Row",
    "Side",
    "Step",
    "apply_route",
    "check_folder",
    "check_text",
    "dump_document",
    "load_document",
    "load_routes",
    "mapping_json_schema",
    "preview_route",
    "save_mapping",
    "winner",
]
