#ifndef PARLEY_CFUZZDRIVER_H
#define PARLEY_CFUZZDRIVER_H
// Nothing to import: this target only supplies the process entry point (see FuzzDriver.c).
#endif
