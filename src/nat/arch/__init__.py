"""Architectures as data: genotypes, their file formats, the NAT rules, cell spaces and the zoo."""

from .formats import (format_pairs, format_triples, genotype_from_dict, genotype_to_dict, parse_text,
                      read_genotype_file, write_genotype_file)
from .genotype import CELL_TYPES, Cell, Edge, Genotype, loose_ends
from .rules import (ACTIONS, KIND_TRANSITIONS, action_mask, apply_actions, check_transformation,
                    is_legal_transformation, legal_replacements, transformation_violations)
from .space import SPACES, AllPrevious, CellSpace, TwoInputsPerNode, get_space, space_of, validate

__all__ = ["Edge", "Cell", "Genotype", "CELL_TYPES", "loose_ends", "genotype_from_dict", "genotype_to_dict",
           "parse_text", "format_triples", "format_pairs", "read_genotype_file", "write_genotype_file",
           "KIND_TRANSITIONS", "ACTIONS", "legal_replacements", "action_mask", "apply_actions",
           "check_transformation", "is_legal_transformation", "transformation_violations", "SPACES",
           "CellSpace", "TwoInputsPerNode", "AllPrevious", "get_space", "space_of", "validate"]
