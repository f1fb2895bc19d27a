# The README's main job: load kcoro and the demo, show what it did.
insmod kcoro.ko
insmod kcoro_demo.ko
rmmod kcoro_demo
rmmod kcoro
