# SPDX-License-Identifier: GPL-2.0
#
# The merge of 6.1's vm_util.c and vm_util.h with the series' additions
# (vm_util.add.c, vm_util.add.h), included by the Makefile. The selftests
# patch is made with the same rule (harness/selftests_patch.py runs it).
#
#   make vm_util_src O=<dir> VM_BASE=<dir with 6.1's vm_util.c and .h>

# merge BASE ADD: BASE, with ADD's #include lines that BASE lacks after
# BASE's last one and the rest of ADD (after its includes) appended. ADD's
# lines before its first #include (its own comment) are dropped. A BASE
# that holds additions already (a tree with a selftests patch applied) is
# cut where they begin (the first line of ADD's rest), so the current ones
# replace them.
MERGE = awk 'FNR == NR { if (/^\#include/) { inc[++ni] = $$0; seen = 1 } \
		else if (seen) { if (mark == "" && $$0 != "") mark = $$0; \
		body = body $$0 "\n" } next } \
	$$0 == mark { cut = 1 } !cut { line[++n] = $$0; have[$$0] = 1; \
		if (/^\#include/) last = n } \
	END { while (cut && n && line[n] == "") n--; \
		for (i = 1; i <= n; i++) { print line[i]; if (i == last) \
		for (j = 1; j <= ni; j++) if (!(inc[j] in have)) print inc[j] } \
		printf "%s", body }'

$(O)/vm_util.c $(O)/vm_util.h: $(O)/vm_util.%: $(VM_BASE)/vm_util.% vm_util.add.%
	mkdir -p $(@D) && $(MERGE) vm_util.add.$* $< > $@.tmp && mv $@.tmp $@

vm_util_src: $(O)/vm_util.c $(O)/vm_util.h

.PHONY: vm_util_src
