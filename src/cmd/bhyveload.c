/* bhyveload: placeholder until its issue lands. */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "bhyveload: not implemented yet\n");
	return 4;
}
