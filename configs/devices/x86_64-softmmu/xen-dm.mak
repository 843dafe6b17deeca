# SPDX-License-Identifier: GPL-2.0-or-later
#
# Device set of the installed device model (scripts/build.sh install, make
# install, make deb): libxl runs the one binary at its device-model path for
# every guest, HVM guests included, so beside the Xen PV backends this build
# has the emulated devices libxl 4.17 asks for in an HVM guest's command line
# (tools/libs/light/libxl_dm.c): its default graphics card (cirrus-vga) and
# the standard one (VGA), its default NIC model (rtl8139) and e1000, the
# controllers of hdtype=ahci, of "sd" disks (lsi53c895a) and of
# usb/usbversion=1-3 with usbdevice=tablet (usb-tablet, usb-mouse, usb-kbd).
# Their option ROMs come from Debian's seabios and ipxe-qemu (configure
# --firmwarepath).

include xen-pv.mak

CONFIG_VGA_PCI=y
CONFIG_VGA_CIRRUS=y
CONFIG_RTL8139_PCI=y
CONFIG_E1000_PCI=y
CONFIG_AHCI_ICH9=y
CONFIG_LSI_SCSI_PCI=y
CONFIG_USB_UHCI=y
CONFIG_USB_HID=y
CONFIG_USB_EHCI_PCI=y
CONFIG_USB_XHCI_NEC=y
