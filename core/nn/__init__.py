"""Neural-network modules, functional forms and initialisers."""
