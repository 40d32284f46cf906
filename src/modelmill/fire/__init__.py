"""The fire line: a tabular fire detector (thermal camera + SCD41 CO2 sensor) from scikit-learn models."""
