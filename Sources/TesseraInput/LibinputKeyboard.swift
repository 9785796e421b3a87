internal import CInput
import Foundation
import Synchronization
import TesseraCore

/// Keys from every keyboard on a seat through libinput's udev backend (keyboards plugged in later
/// arrive as device-added events), turned into keysyms with an xkbcommon keymap
/// (`XKB_DEFAULT_LAYOUT` and friends choose it; US by default).
///
/// Needs read access to /dev/input/event* (the `input` group) and a udev database.
public final class LibinputKeyboard: KeyboardSource, @unchecked Sendable {
    // Unchecked: the C handles are created in `start` and used only by the thread it starts.
    public let name: String
    private let seat: String
    private let worker: WorkerThread
    /// Why the reading loop ended on its own (a read or poll that failed), if it did.
    private let failed = Mutex<SystemCallError?>(nil)

    public init(seat: String = "seat0") {
        self.seat = seat
        name = "libinput \(seat)"
        worker = WorkerThread(name: "keyboard \(name)")
    }

    /// Input event devices this process can open for reading, as libinput would need to.
    public static func readableEventDevices(in directory: String = "/dev/input") -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("event") }.sorted().map { "\(directory)/\($0)" }.filter { access($0, R_OK) == 0 }
    }

    public func start(_ handler: @escaping @Sendable (KeyPress) -> Void) throws(InputError) {
        guard !Self.readableEventDevices().isEmpty else {
            throw .unavailable("no readable /dev/input/event* device: add the kiosk user to the `input` group "
                               + "(or run where keyboards exist); falling back is up to the caller")
        }
        guard let udev = udev_new() else { throw .unavailable("udev_new failed: is /run/udev present?") }
        let interface = UnsafeMutablePointer<libinput_interface>.allocate(capacity: 1)
        interface.initialize(to: libinput_interface(
            open_restricted: { path, flags, _ in
                guard let path else { return -EINVAL }
                let fd = open(path, flags)
                return fd < 0 ? -errno : fd
            },
            close_restricted: { fd, _ in close(fd) }))
        guard let li = libinput_udev_create_context(interface, nil, udev) else {
            udev_unref(udev); interface.deallocate()
            throw .unavailable("libinput_udev_create_context failed")
        }
        guard libinput_udev_assign_seat(li, seat) == 0 else {
            libinput_unref(li); udev_unref(udev); interface.deallocate()
            throw .unavailable("libinput could not assign seat \(seat): check the seat name and /dev/input permissions")
        }
        guard let ctx = xkb_context_new(XKB_CONTEXT_NO_FLAGS),
              let keymap = xkb_keymap_new_from_names(ctx, nil, XKB_KEYMAP_COMPILE_NO_FLAGS),
              let state = xkb_state_new(keymap) else {
            libinput_unref(li); udev_unref(udev); interface.deallocate()
            throw .unavailable("xkbcommon could not compile the keymap: check XKB_DEFAULT_LAYOUT and that xkb-data is installed")
        }
        let handles = Handles(li: li, udev: udev, interface: interface, ctx: ctx, keymap: keymap, state: state)
        worker.start { [self] in
            loop(handles, handler)
            handles.release()
        }
    }

    public var failure: SystemCallError? { failed.withLock { $0 } }

    public func stop() {
        // A read may be blocked until its poll times out (100-200 ms).
        worker.stop(timeout: .seconds(2))
    }

    private final class Handles: @unchecked Sendable {
        let li: OpaquePointer, udev: OpaquePointer, interface: UnsafeMutablePointer<libinput_interface>
        let ctx: OpaquePointer, keymap: OpaquePointer, state: OpaquePointer
        init(li: OpaquePointer, udev: OpaquePointer, interface: UnsafeMutablePointer<libinput_interface>,
             ctx: OpaquePointer, keymap: OpaquePointer, state: OpaquePointer) {
            self.li = li; self.udev = udev; self.interface = interface; self.ctx = ctx; self.keymap = keymap; self.state = state
        }
        func release() {
            xkb_state_unref(state); xkb_keymap_unref(keymap); xkb_context_unref(ctx)
            libinput_unref(li); udev_unref(udev); interface.deallocate()
        }
    }

    private func loop(_ h: Handles, _ handler: @Sendable (KeyPress) -> Void) {
        let fd = libinput_get_fd(h.li)
        while !worker.isStopRequested {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            do throws(SystemCallError) { try SystemCall.retrying("poll(libinput)") { poll(&p, 1, 200) } } catch {
                failed.withLock { $0 = error }; return
            }
            guard libinput_dispatch(h.li) == 0 else { return }
            while let event = libinput_get_event(h.li) {
                defer { libinput_event_destroy(event) }
                guard libinput_event_get_type(event) == LIBINPUT_EVENT_KEYBOARD_KEY,
                      let k = libinput_event_get_keyboard_event(event) else { continue }
                // evdev key codes are xkb keycodes less 8.
                let code = libinput_event_keyboard_get_key(k) + 8
                let pressed = libinput_event_keyboard_get_key_state(k) == LIBINPUT_KEY_STATE_PRESSED
                if pressed {
                    let sym = xkb_state_key_get_one_sym(h.state, code)
                    var buf = [CChar](repeating: 0, count: 64)
                    if sym != 0, xkb_keysym_get_name(sym, &buf, buf.count) > 0 {
                        func on(_ mod: String) -> Bool { xkb_state_mod_name_is_active(h.state, mod, XKB_STATE_MODS_EFFECTIVE) > 0 }
                        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                        handler(KeyPress(keysym: name, ctrl: on("Control"), alt: on("Mod1"), shift: on("Shift"), logo: on("Mod4")))
                    }
                }
                xkb_state_update_key(h.state, code, pressed ? XKB_KEY_DOWN : XKB_KEY_UP)
            }
        }
    }
}
