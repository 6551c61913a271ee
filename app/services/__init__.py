"""Domain services: the business rules behind the routes. Each function takes the request's session."""
