P=$(dirname "$0")
echo "kernel $(uname -r) clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
$P/clk; $P/clk
for r in 1 2 3; do for n in 1 16 64 256; do $P/wloop $n; done; done
$P/clk
