/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What kernel/tests/kcoro_lin.h needs from the kernel, for a userspace
 * program.
 */
#ifndef _KCORO_LIN_USER_H
#define _KCORO_LIN_USER_H

#include <errno.h>
#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define u8	__u8
#define u32	__u32
#define u64	__u64
#define s8	__s8

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define lin_zalloc(size)	calloc(1, size)
#define lin_free(p)		free(p)

#endif /* _KCORO_LIN_USER_H */
