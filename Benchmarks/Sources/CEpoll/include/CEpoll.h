// Linux's epoll for the benchmark's receivers (Glibc's Swift module does not include it).
#include <sys/epoll.h>
