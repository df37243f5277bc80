"""Each private API of a dependency, used in one module named after the library."""
