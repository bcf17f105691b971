/* bhyvectl: placeholder until its issue lands. */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "bhyvectl: not implemented yet\n");
	return 4;
}
