"""The rules: one pipeline per operation, the documented domain rules and their error and outcome types, the world, the clock, ids."""
