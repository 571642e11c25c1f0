"""SME upgrading in Latin American clusters: a reproducible compendium."""
