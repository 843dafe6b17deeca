# SPDX-License-Identifier: GPL-2.0-or-later
#
# Device set of this project's QEMU build (configure --without-default-devices
# --with-devices-x86_64=xen-pv): the machines Xen backends run under and the
# Xen bus, nothing else.  Keeps a build from scratch short on 2 cores.

# pc and xenfv machines (Xen HVM guests, KVM Xen emulation)
CONFIG_I440FX=y
# q35 machine (KVM Xen emulation)
CONFIG_Q35=y
# XenBus and the Xen PV backends (xen-disk, xen-cdrom, xen-net-device,
# xen-9pfs)
CONFIG_XEN_BUS=y
# The 9P server (hw/9pfs) behind xen-9pfs; needs configure --enable-virtfs
CONFIG_FSDEV_9P=y
# KVM's Xen emulation (-accel kvm,xen-version=...)
CONFIG_XEN_EMU=y
