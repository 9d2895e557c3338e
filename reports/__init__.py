"""Manager reports: waste trends, the demand forecast, and the menu they are priced by."""
