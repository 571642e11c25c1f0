"""The study: codebook, coding sheets (reading, validation, simulation), reliability, descriptives, the study's
models of upgrading, the claims check and the design analysis. Builds on `upgrading.ordinal`."""
