#include <cstdio>
int main() { std::puts("globus-fuse " GF_VERSION); return 0; }
