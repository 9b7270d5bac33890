// Parsers for Transfer v0.10 documents: implemented with the api/ layer (issue 3).
