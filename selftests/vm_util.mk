# SPDX-License-Identifier: GPL-2.0
#
# The merge of 6.1's vm_util.c and vm_util.h with the series' additions
# (vm_util.add.c, vm_util.add.h), included by the Makefile. patch 0005 is
# made with the same rule (harness/selftests_patch.py runs vm_util_src).
#
#   make vm_util_src O=<dir> VM_BASE=<dir with 6.1's vm_util.c and .h>

# merge BASE ADD: BASE, with ADD's #include lines after BASE's last one and
# the rest of ADD (after its includes) appended. ADD's lines before its
# first #include (its own comment) are dropped. A BASE that holds the rest
# of ADD already (a tree with the selftests patch applied) is kept as is.
MERGE = awk 'FNR == NR { if (/^\#include/) { inc = inc $$0 "\n"; seen = 1 } \
		else if (seen) body = body $$0 "\n"; next } \
	{ line[++n] = $$0; all = all $$0 "\n"; if (/^\#include/) last = n } \
	END { if (body != "" && index(all, body)) { printf "%s", all; exit } \
		for (i = 1; i <= n; i++) { print line[i]; \
		if (i == last) printf "%s", inc } printf "%s", body }'

$(O)/vm_util.c $(O)/vm_util.h: $(O)/vm_util.%: $(VM_BASE)/vm_util.% vm_util.add.%
	mkdir -p $(@D) && $(MERGE) vm_util.add.$* $< > $@.tmp && mv $@.tmp $@

vm_util_src: $(O)/vm_util.c $(O)/vm_util.h

.PHONY: vm_util_src
