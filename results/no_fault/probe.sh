B=pagemap_bench
echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource) avail: $(cat /sys/devices/system/clocksource/clocksource0/available_clocksource)"
echo "thp enabled: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>&1)"
echo "mthp: $(ls -d /sys/kernel/mm/transparent_hugepage/hugepages-* 2>/dev/null | xargs -n1 basename 2>/dev/null | tr '\n' ' ')"
for d in /sys/kernel/mm/transparent_hugepage/hugepages-*; do [ -e $d/enabled ] && echo "  $(basename $d): $(cat $d/enabled)"; done
echo "la57 cpu flag: $(grep -c -w la57 /proc/cpuinfo) pcid: $(grep -c -w pcid /proc/cpuinfo) invpcid: $(grep -c -w invpcid /proc/cpuinfo)"
dmesg | grep -i -E "tsc|clocksource|5-level|la57|pcid|pti" | head -20
cat /proc/cmdline
t0=$(cat /proc/uptime | cut -d' ' -f1); grep -E "^ *(LOC|RES|CAL|TLB|[0-9]+):" /proc/interrupts
for n in 64 256 1024 4096; do
  $B --only fault --fault-pages $n --reps 5 2>/dev/null | grep '"no_fault"\|"uffd_wp_async"' | sed 's/"desc[^,]*,//' | cut -c1-260
done
t1=$(cat /proc/uptime | cut -d' ' -f1); echo "uptime $t0 -> $t1"; grep -E "^ *(LOC|RES|CAL|TLB|[0-9]+):" /proc/interrupts
