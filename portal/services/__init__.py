"""Business rules as plain functions: they take models and validated data, enforce the rules, write
audit records and raise ``DomainError`` subclasses with a specific reason. They flush; the edge commits."""
