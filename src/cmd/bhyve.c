/* bhyve: placeholder until its issue lands. */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "bhyve: not implemented yet\n");
	return 4;
}
