W=$(dirname "$0")/wloop
echo "kernel $(uname -r) clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "thp enabled: $(cat /sys/kernel/mm/transparent_hugepage/enabled) defrag: $(cat /sys/kernel/mm/transparent_hugepage/defrag)"
for d in /sys/kernel/mm/transparent_hugepage/hugepages-*; do [ -e $d/enabled ] && printf "%s=%s " $(basename $d) "$(cat $d/enabled | grep -o '\[.*\]')"; done; echo
grep -E "^(LOC|CAL|TLB|RES):" /proc/interrupts | tr -s ' '; cat /proc/uptime
for r in 1 2 3; do for n in 64 512 1024 2048 8192; do $W $n; done; $W 1024 huge; done
grep -E "^(LOC|CAL|TLB|RES):" /proc/interrupts | tr -s ' '; cat /proc/uptime
