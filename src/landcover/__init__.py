"""The model factory: a DVC pipeline that trains and publishes EuroSAT land-cover classifiers."""
