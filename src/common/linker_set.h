/*
 * Linker sets: registration without a central table.
 *
 * A file that provides an emulation puts a pointer to its descriptor into a named ELF section
 * with DATA_SET(set, sym); the linker gathers every such pointer and defines
 * __start_set_<set> / __stop_set_<set> around them, which SET_FOREACH walks.  Because every
 * object file is linked directly (no static archives), nothing gets dropped.
 */
#ifndef BHYVE_LINKER_SET_H
#define BHYVE_LINKER_SET_H

#define DATA_SET(set, sym)                                                              \
	static const void *__set_##set##_sym_##sym                                       \
	    __attribute__((section("set_" #set), used, aligned(sizeof(void *)))) = &(sym)

#define SET_DECLARE(set, ptype)                                                         \
	extern ptype *__start_set_##set[] __attribute__((weak));                         \
	extern ptype *__stop_set_##set[] __attribute__((weak))

#define SET_BEGIN(set) (__start_set_##set)
#define SET_LIMIT(set) (__stop_set_##set)

/* Iterate: `ptype **pvar` walks the set; *pvar is each registered descriptor. */
#define SET_FOREACH(pvar, set) for (pvar = SET_BEGIN(set); pvar < SET_LIMIT(set); pvar++)

#endif
