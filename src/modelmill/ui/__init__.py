"""`make ui`: a read-only web page over the registry (lines, models, versions, aliases, drift, try it)."""
