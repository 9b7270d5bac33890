// Filesystem core: implemented with the fs/ layer (issue 4).
