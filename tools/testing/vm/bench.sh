# make bench: one VM run, every pair measured side by side.
insmod kcoro.ko
insmod kcoro_bench.ko
rmmod kcoro_bench
rmmod kcoro
