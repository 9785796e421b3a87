import Foundation
import TesseraCore
import TesseraInput
import TesseraLayout
import TesseraOutput
import TesseraRender

/// `tessera doctor`: what an installer needs to know before the wall can boot, each finding with
/// what to do about it.
public enum Doctor {
    public enum Level: String, Sendable { case ok, warning, problem }

    public struct Finding: Sendable, CustomStringConvertible {
        public var level: Level
        public var area: String
        public var message: String
        public var description: String {
            let tag = switch level { case .ok: "ok     "; case .warning: "warning"; case .problem: "PROBLEM" }
            return "\(tag) \(area): \(message)"
        }
    }

    public struct Inputs: Sendable {
        public var layoutPath: String?
        public var signalURL: String?
        public var tokenFile: String?
        public var driDirectory = "/dev/dri"
        public var inputDirectory = "/dev/input"
        public var connectTimeout: TimeInterval = 3
        public init(layoutPath: String? = nil, signalURL: String? = nil, tokenFile: String? = nil) {
            self.layoutPath = layoutPath; self.signalURL = signalURL; self.tokenFile = tokenFile
        }
    }

    public static func check(_ inputs: Inputs) -> [Finding] {
        var out: [Finding] = []
        func add(_ level: Level, _ area: String, _ message: String) { out.append(Finding(level: level, area: area, message: message)) }

        // Privileges: a kiosk that runs as root can do anything a compromised decoder wants.
        if geteuid() == 0 {
            add(.warning, "user", "running as root; the kiosk should run as an unprivileged user in the video and input groups (deploy/tessera.service)")
        } else {
            add(.ok, "user", "unprivileged (uid \(geteuid()))")
        }

        // Layout.
        var layout: Layout?
        if let path = inputs.layoutPath {
            switch LayoutFiles.load(path) {
            case .success(let l):
                layout = l
                add(.ok, "layout", "\(path): \(l.outputs.count) output(s), \(l.presets.count) preset(s), \(l.shortcuts.count) shortcut(s)")
            case .failure(let e):
                for line in e.lines { add(.problem, "layout", line) }
                add(.problem, "layout", "fix \(path) (`tessera validate \(path)` shows the same lines)")
            }
        } else {
            add(.warning, "layout", "no --layout given; the layout file is not checked")
        }

        // DRM devices, permissions, connectors vs the layout's outputs.
        let cards = DRMDevices.cards(in: inputs.driDirectory)
        if cards.isEmpty {
            add(.problem, "drm", "no \(inputs.driDirectory)/card* device: no GPU or display driver here; the wall can only run headless "
                + "(`tessera run --backend headless --snapshot-dir DIR`)")
        }
        for card in cards {
            guard access(card, R_OK | W_OK) == 0 else {
                add(.problem, "drm", "\(card) is not readable and writable by this user: add it to the `video` group "
                    + "(usermod -aG video USER) or run from the systemd unit")
                continue
            }
            do {
                let connectors = try DRMCard(path: card).connectors()
                let connected = connectors.filter(\.connected)
                add(.ok, "drm", "\(card): \(connectors.count) connector(s), connected: \(connected.map(\.name).joined(separator: ", "))")
                if let layout {
                    let wanted = layout.outputs.map {
                        ConnectorMatch.Wanted(outputID: $0.id, connector: $0.connector, width: $0.mode.width, height: $0.mode.height, refresh: $0.mode.refresh)
                    }
                    for a in ConnectorMatch.assign(wanted, to: connectors) {
                        if let c = a.connector, a.problem == nil {
                            add(.ok, "outputs", "output \(a.outputID) → \(c)" + (a.mode.map { " at \($0)" } ?? ""))
                        } else {
                            add(.problem, "outputs", "output \(a.outputID): \(a.problem ?? "no connector"); "
                                + "`tessera outputs --layout FILE` lists what this machine has")
                        }
                    }
                }
            } catch {
                add(.problem, "drm", "\(card): \(error)")
            }
        }

        // Input devices.
        let all = ((try? FileManager.default.contentsOfDirectory(atPath: inputs.inputDirectory)) ?? []).filter { $0.hasPrefix("event") }
        let readable = LibinputKeyboard.readableEventDevices(in: inputs.inputDirectory)
        if all.isEmpty {
            add(.warning, "input", "no \(inputs.inputDirectory)/event* device: plug in a keyboard, or control the wall from the backend (layout.set)")
        } else if readable.isEmpty {
            add(.problem, "input", "\(all.count) input device(s) but none readable: add the kiosk user to the `input` group (usermod -aG input USER)")
        } else {
            add(.ok, "input", "\(readable.count) of \(all.count) input device(s) readable")
        }

        // Rendering: fonts for labels and slates, headless EGL.
        do { _ = try CPURenderer(workers: 1); add(.ok, "render", "CPU renderer and fonts load") } catch {
            add(.problem, "render", "CPU renderer: \(error); install fonts-dejavu-core")
        }
        switch Result(catching: { try EGLProbe.surfaceless() }) {
        case .success(let r): add(.ok, "render", "EGL \(r.version) (\(r.vendor))")
        case .failure(let e): add(.warning, "render", "EGL: \(e); --renderer gles is unavailable, the CPU renderer works")
        }

        // Backend.
        if let url = inputs.signalURL {
            if let c = URLComponents(string: url), let host = c.host, let scheme = c.scheme, ["ws", "wss"].contains(scheme.lowercased()) {
                let port = c.port ?? (scheme.lowercased() == "wss" ? 443 : 80)
                if let error = tcpConnect(host: host, port: port, timeout: inputs.connectTimeout) {
                    add(.problem, "signal", "cannot reach \(host):\(port): \(error); check the URL, the network and that the backend runs")
                } else {
                    add(.ok, "signal", "\(host):\(port) accepts connections")
                }
            } else {
                add(.problem, "signal", "\(url) is not a ws:// or wss:// URL with a host")
            }
            if let file = inputs.tokenFile {
                if access(file, R_OK) != 0 { add(.problem, "signal", "token file \(file) is not readable by this user") }
                else { add(.ok, "signal", "token file \(file) readable") }
            } else {
                add(.warning, "signal", "no --token-file; the backend will refuse the wall unless $TESSERA_WALL_TOKEN is set")
            }
        }
        return out
    }

    /// Connects a TCP socket with a deadline; nil on success, else the reason.
    static func tcpConnect(host: String, port: Int, timeout: TimeInterval) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else { return "cannot resolve \(host): \(String(cString: gai_strerror(rc)))" }
        defer { freeaddrinfo(res) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        if connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 { return nil }
        guard errno == EINPROGRESS else { return String(cString: strerror(errno)) }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard (try? SystemCall.retrying("poll", { poll(&p, 1, Int32(timeout * 1000)) })) == 1 else { return "no answer within \(Int(timeout)) s" }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err == 0 ? nil : String(cString: strerror(err))
    }
}
