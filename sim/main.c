/* moesim command line (filled in by the check/run subcommands). */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "moesim: no subcommands yet\n");
    return 2;
}
