import Foundation
import NIOCore
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

@Suite("ImageValidator")
struct ImageValidatorTests {
    let validator = ImageValidator(maximumBytes: 1024)

    @Test(arguments: [
        (TestImages.png, ImageFormat.png), (TestImages.jpeg, .jpeg), (TestImages.gif, .gif), (TestImages.webp, .webp),
    ])
    func sniffsTheRealFormat(bytes: [UInt8], format: ImageFormat) throws {
        // The declared type is ignored: the bytes decide.
        let upload = try validator.validate(.dataURI(TestImages.dataURI(bytes, type: "text/plain")), field: "image")
        #expect(upload.format == format)
        #expect(upload.bytes.readableBytes == bytes.count)
    }

    @Test func refusesWhatIsNotAnImage() {
        let svg = Array("<svg xmlns='http://www.w3.org/2000/svg'/>".utf8)
        #expect(throws: ParleyError.self) { try validator.validate(.dataURI(TestImages.dataURI(svg)), field: "image") }
        do {
            _ = try validator.validate(.bytes(ByteBuffer(bytes: svg)), field: "image")
            Issue.record("accepted SVG")
        } catch let error as ParleyError {
            #expect(error.kind == .unsupportedMediaType)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(arguments: [
        "", "hello", "data:image/png,abc", "data:image/png;base64", "data:image/png;base64,!!!!",
        "http://example.com/a.png",
    ])
    func refusesMalformedDataURIs(_ uri: String) {
        #expect(throws: ParleyError.self) { try validator.validate(.dataURI(uri), field: "avatar") }
    }

    @Test func refusesImagesOverTheLimit() {
        let big = TestImages.png + Array(repeating: 0, count: 2000)
        #expect(throws: ParleyError.self) { try validator.validate(.dataURI(TestImages.dataURI(big)), field: "image") }
        #expect(throws: ParleyError.self) { try validator.validate(.bytes(ByteBuffer(bytes: big)), field: "image") }
    }
}
