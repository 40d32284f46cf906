"""The plant-biomass line: FarmBot photos in, fresh biomass in grams out (pipelines/biomass)."""
