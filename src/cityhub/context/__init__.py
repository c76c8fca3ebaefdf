"""Context layer: the NGSI-LD context broker (ETSI GS CIM 009 v1.8) over the city's entities."""
