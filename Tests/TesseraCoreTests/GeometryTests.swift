import Testing
import TesseraCore

@Suite struct GeometryTests {
    @Test(arguments: [
        (Rect(x: 0, y: 0, width: 10, height: 10), Rect(x: 5, y: 5, width: 10, height: 10), Rect(x: 5, y: 5, width: 5, height: 5) as Rect?),
        (Rect(x: 0, y: 0, width: 10, height: 10), Rect(x: 10, y: 0, width: 10, height: 10), nil), // touching edges share no pixel
        (Rect(x: 0, y: 0, width: 10, height: 10), Rect(x: 2, y: 3, width: 4, height: 4), Rect(x: 2, y: 3, width: 4, height: 4)),
    ])
    func intersection(a: Rect, b: Rect, expected: Rect?) {
        #expect(a.intersection(b) == expected)
        #expect(b.intersection(a) == expected)
    }

    @Test func unionAndContains() {
        let a = Rect(x: 0, y: 0, width: 3840, height: 2160), b = Rect(x: 3840, y: 0, width: 3840, height: 2160)
        #expect(a.union(b) == Rect(x: 0, y: 0, width: 7680, height: 2160))
        #expect(a.union(b).contains(b))
        #expect(!a.contains(b))
    }

    @Test(arguments: [
        ("#ff8000", Color(red: 255, green: 128, blue: 0) as Color?),
        ("#FF800040", Color(red: 255, green: 128, blue: 0, alpha: 64)),
        ("ff8000", nil), ("#ff800", nil), ("#gg8000", nil),
    ])
    func colorParsing(text: String, expected: Color?) {
        #expect(Color(hex: text) == expected)
        if let c = expected { #expect(Color(hex: c.description) == c) }
    }

    @Test func syntheticRoomIsInJoinOrder() {
        let room = Room.synthetic(count: 3)
        #expect(room.participants.map(\.id) == ["p1", "p2", "p3"])
        #expect(room.teacher == nil)
        #expect(room["p2"]?.name == "Participant 2")
    }
}

@Suite struct StreamLayerTests {
    @Test func tilesGetTheSmallestLayerThatIsTallEnough() {
        let camera = ParticipantStream(kind: .camera, layers: [
            StreamLayer(width: 1280, height: 720, url: "srt://sfu:9000?streamid=p1-hi"),
            StreamLayer(width: 320, height: 180, url: "srt://sfu:9000?streamid=p1-lo"),
            StreamLayer(width: 640, height: 360, url: "srt://sfu:9000?streamid=p1-mid"),
        ])
        #expect(camera.layers.map(\.height) == [180, 360, 720], "kept smallest first")
        #expect(camera.layer(forHeight: 175)?.height == 180)
        #expect(camera.layer(forHeight: 200)?.height == 360)
        #expect(camera.layer(forHeight: 2160)?.height == 720, "the largest when none is tall enough")
        #expect(ParticipantStream(kind: .screen, layers: []).layer(forHeight: 100) == nil)
    }
}
