// The source that gf_test_pch compiles to make the tests' shared precompiled header
// (tests/CMakeLists.txt); it has no code of its own.
