import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyServer
@testable import ParleyTesting

/// Images as `multipart/form-data` file parts, on the same endpoints as JSON data URIs.
@Suite("HTTP: multipart uploads")
struct MultipartAPITests {
    @Test(arguments: StoreKind.available)
    func signUpAndSendWithFileParts(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let email = "ann-\(UUID().uuidString.prefix(6))@example.com"
            let signUp = try await api.multipart(
                .post, "/api/auth/signup", fields: [("name", "Ann"), ("email", email), ("password", "secret1")],
                file: ("file", TestImages.gif))
            #expect(signUp.status == .created, "\(signUp.text)")
            let avatar = try #require(signUp.object["avatar"] as? String)
            let served = try await api.request(.get, avatar)
            #expect(served.headers[.contentType] == "image/gif")
            #expect(Array(served.body.readableBytesView) == TestImages.gif)
            let ann = TestAPI.Session(
                id: signUp.object["_id"] as! String, email: email, token: try TestAPI.token(from: signUp))

            let bob = try await api.signUp(name: "Bob")
            // The image part may also carry the JSON field's name, as long as it has a file name.
            let sent = try await api.multipart(
                .post, "/api/message", fields: [("to", bob.id), ("text", "héllo")], file: ("image", TestImages.png),
                headers: ann.cookie)
            #expect(sent.status == .created, "\(sent.text)")
            #expect(sent.object["text"] as? String == "héllo")
            let image = try #require(sent.object["image"] as? String)
            #expect(Array(try await api.request(.get, image).body.readableBytesView) == TestImages.png)

            // Text-only multipart works too.
            let plain = try await api.multipart(
                .post, "/api/message", fields: [("to", bob.id), ("text", "hi")], headers: ann.cookie)
            #expect(plain.status == .created)
            #expect(plain.object["image"] == nil)

            // Parts it does not read are ignored, as unknown JSON members are (even repeated, even
            // named ""); a field it reads sent twice is refused.
            let extra = try await api.multipart(
                .post, "/api/message",
                fields: [("", "x"), ("to", bob.id), ("note", "1"), ("note", "2"), ("", "y"), ("text", "hey")],
                headers: ann.cookie)
            #expect(extra.status == .created)
            #expect(extra.object["text"] as? String == "hey")
            let twice = try await api.multipart(
                .post, "/api/message", fields: [("to", bob.id), ("text", "a"), ("text", "b")], headers: ann.cookie)
            #expect(twice.code == "invalid_text")
        }
    }

    @Test func theSameChecksApplyAsToDataURIs() async throws {
        try await withApp(.sqlite, configuration: ["MAX_IMAGE_MB": "1"]) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let svg = Array("<svg xmlns='http://www.w3.org/2000/svg'/>".utf8)
            let notImage = try await api.multipart(
                .post, "/api/message", fields: [("to", bob.id)], file: ("file", svg), headers: ann.cookie)
            #expect(notImage.status == .unsupportedMediaType)
            #expect(notImage.code == "unsupported_image_type")

            let big = TestImages.png + Array(repeating: 0, count: 1024 * 1024)
            let tooBig = try await api.multipart(
                .post, "/api/message", fields: [("to", bob.id)], file: ("file", big), headers: ann.cookie)
            #expect(tooBig.status == .contentTooLarge)
            #expect(tooBig.code == "image_too_large")

            let huge = TestImages.png + Array(repeating: 0, count: 3 * 1024 * 1024)
            let overBody = try await api.multipart(
                .post, "/api/message", fields: [("to", bob.id)], file: ("file", huge), headers: ann.cookie)
            #expect(overBody.status == .contentTooLarge)
            #expect(overBody.code == "payload_too_large")

            let empty = try await api.multipart(
                .post, "/api/message", fields: [("to", bob.id)], file: ("file", []), headers: ann.cookie)
            #expect(empty.status == .badRequest)

            let missingReceiver = try await api.multipart(
                .post, "/api/message", fields: [("text", "x")], headers: ann.cookie)
            #expect(missingReceiver.code == "missing_to")
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory + "/uploads").isEmpty)
        }
    }

    /// An image sent both ways is ambiguous: refused on every endpoint that takes one, whatever
    /// the text field holds (schemathesis found a bad data URI accepted beside a file).
    @Test func anImageAsAFileAndAsADataURIAtOnceIsRefused() async throws {
        try await withApp(.sqlite) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let group = try await api.request(
                .post, "/api/groups", json: ["name": "Team", "members": [bob.id]], headers: ann.cookie)
            let groupID = try #require(group.object["_id"] as? String)
            let file = ("file", TestImages.png)
            for text in ["AAA", "", TestImages.dataURI(TestImages.png)] {
                let cases: [(HTTPRequest.Method, String, [(String, String)], String)] = [
                    (
                        .post, "/api/auth/signup",
                        [("name", "Cy"), ("email", "cy@x.example"), ("password", "secret1"), ("avatar", text)],
                        "invalid_avatar"
                    ),
                    (.put, "/api/auth/update", [("avatar", text)], "invalid_avatar"),
                    (.post, "/api/groups", [("name", "Other"), ("avatar", text)], "invalid_avatar"),
                    (.patch, "/api/groups/\(groupID)", [("avatar", text)], "invalid_avatar"),
                    (.post, "/api/message", [("to", bob.id), ("image", text)], "invalid_image"),
                    (.post, "/api/groups/\(groupID)/messages", [("image", text)], "invalid_image"),
                ]
                for (method, path, fields, code) in cases {
                    let reply = try await api.multipart(method, path, fields: fields, file: file, headers: ann.cookie)
                    #expect(reply.status == .badRequest, "\(method) \(path) with \(text.prefix(10))")
                    #expect(reply.code == code, "\(method) \(path)")
                }
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory + "/uploads").isEmpty)
        }
    }

    @Test func malformedBodiesAreClear400s() async throws {
        try await withApp(.sqlite) { api in
            let ann = try await api.signUp(name: "Ann")
            func send(_ contentType: String, _ body: String) async throws -> TestAPI.Reply {
                let response = try await api.client.execute(
                    uri: "/api/message", method: .post,
                    headers: ann.cookie.merging([.contentType: contentType]), body: ByteBuffer(string: body))
                return TestAPI.Reply(status: response.status, headers: response.headers, body: response.body)
            }
            let part = "--b\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhi\r\n"
            let cases: [(String, String, HTTPResponse.Status, String)] = [
                ("multipart/form-data", part + "--b--\r\n", .badRequest, "invalid_multipart"),
                ("multipart/form-data; boundary=", part + "--b--\r\n", .badRequest, "invalid_multipart"),
                (
                    "multipart/form-data; boundary=\(String(repeating: "x", count: 71))", "", .badRequest,
                    "invalid_multipart"
                ),
                ("multipart/form-data; boundary=b", part, .badRequest, "invalid_multipart"),
                (
                    "multipart/form-data; boundary=b", "--b\r\nBad Header\r\n\r\nx\r\n--b--\r\n", .badRequest,
                    "invalid_multipart"
                ),
                (
                    "multipart/form-data; boundary=b", "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
                    .badRequest, "invalid_multipart"
                ),
                ("multipart/form-data; boundary=b", part + part + "--b--\r\n", .badRequest, "invalid_text"),
                (
                    "multipart/form-data; boundary=\"b\"",
                    "--b\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n\u{FFFD}\r\n--b--\r\n", .badRequest,
                    "missing_to"
                ),
                ("text/plain", "hello", .unsupportedMediaType, "unsupported_media_type"),
            ]
            for (contentType, body, status, code) in cases {
                let reply = try await send(contentType, body)
                #expect(reply.status == status, "\(contentType) \(body.debugDescription): \(reply.text)")
                #expect(reply.code == code, "\(contentType) \(body.debugDescription): \(reply.text)")
            }
            // Invalid UTF-8 in a text part.
            var bytes = ByteBuffer(string: "--b\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n")
            bytes.writeBytes([0xFF, 0xFE])
            bytes.writeString("\r\n--b--\r\n")
            let response = try await api.client.execute(
                uri: "/api/message", method: .post,
                headers: ann.cookie.merging([.contentType: "multipart/form-data; boundary=b"]), body: bytes)
            #expect(response.status == .badRequest)
        }
    }

    /// MultipartKit traps on a byte of 0x80 or more in a part-header name: one such request used
    /// to take the whole process down, before any authentication.
    @Test func nonASCIIPartHeaderNamesAreRefusedNotCrashed() async throws {
        try await withApp(.sqlite) { api in
            let ann = try await api.signUp(name: "Ann")
            let bodies: [[UInt8]] = [
                Array("--X\r\n".utf8) + [0xFF] + Array(": a\r\n\r\nv\r\n--X--\r\n".utf8),
                Array("--X\r\nContent-Type".utf8) + [0x80] + Array(": a\r\n\r\nv\r\n--X--\r\n".utf8),
                Array("--X\r\nContent-Disposition: form-data; name=\"text\"\r\n".utf8) + [0xC3, 0xA9]
                    + Array(": a\r\n\r\nv\r\n--X--\r\n".utf8),
                // The second part's headers, after a whole first part.
                Array("--X\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhi\r\n--X\r\n".utf8) + [0xFE]
                    + Array(": a\r\n\r\nv\r\n--X--\r\n".utf8),
            ]
            let targets: [(HTTPRequest.Method, String, HTTPFields)] = [
                (.post, "/api/auth/signup", [:]),
                (.post, "/api/message", ann.cookie),
                (.put, "/api/auth/update", ann.cookie),
            ]
            for (method, path, headers) in targets {
                for body in bodies {
                    let response = try await api.client.execute(
                        uri: path, method: method,
                        headers: headers.merging([.contentType: "multipart/form-data; boundary=X"]),
                        body: ByteBuffer(bytes: body))
                    let reply = TestAPI.Reply(status: response.status, headers: response.headers, body: response.body)
                    #expect(reply.status == .badRequest, "\(path): \(reply.text)")
                    #expect(reply.code == "invalid_multipart", "\(path): \(reply.text)")
                }
            }
            // Bytes over 0x7F stay fine where the parser reads them as data: a header value, a body.
            let bob = try await api.signUp(name: "Bob")
            var body = Array("--X\r\nContent-Disposition: form-data; name=\"to\"\r\nX-Note: ".utf8) + [0xC3, 0xA9]
            body += Array("\r\n\r\n\(bob.id)\r\n--X\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n".utf8)
            body += Array("h\u{e9}llo\r\n--X--\r\n".utf8)
            let response = try await api.client.execute(
                uri: "/api/message", method: .post,
                headers: ann.cookie.merging([.contentType: "multipart/form-data; boundary=X"]),
                body: ByteBuffer(bytes: body))
            #expect(response.status == .created)
        }
    }

    @Test func partsHeadersAndHeaderLinesAreBounded() async throws {
        try await withApp(.sqlite) { api in
            let longLine =
                "--X\r\nContent-Disposition: form-data; name=\"text\"; x=\""
                + String(repeating: "a", count: 9000) + "\"\r\n\r\nhi\r\n--X--\r\n"
            let manyHeaders =
                "--X\r\n" + String(repeating: "X-A: b\r\n", count: 20)
                + "Content-Disposition: form-data; name=\"text\"\r\n\r\nhi\r\n--X--\r\n"
            let manyParts =
                (0..<20).map { "--X\r\nContent-Disposition: form-data; name=\"n\($0)\"\r\n\r\nv\r\n" }.joined()
                + "--X--\r\n"
            for body in [longLine, manyHeaders, manyParts] {
                let response = try await api.client.execute(
                    uri: "/api/auth/signup", method: .post,
                    headers: [.contentType: "multipart/form-data; boundary=X"], body: ByteBuffer(string: body))
                let reply = TestAPI.Reply(status: response.status, headers: response.headers, body: response.body)
                #expect(reply.status == .badRequest, "\(reply.text)")
                #expect(reply.code == "invalid_multipart", "\(reply.text)")
            }
        }
    }

    @Test func boundariesAreRFC2046Characters() {
        #expect(MultipartForm.boundary(in: "multipart/form-data; boundary=\"a\u{e9}\"") == nil)
        #expect(MultipartForm.boundary(in: "multipart/form-data; boundary=\"a\rb\"") == nil)
        #expect(MultipartForm.boundary(in: "multipart/form-data; boundary=\"ab \"") == nil)
        #expect(MultipartForm.boundary(in: "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk") != nil)
        #expect(MultipartForm.boundary(in: "multipart/form-data; boundary=\"a'()+_,-./:=? b\"") != nil)
    }

    @Test func headerParametersAreParsedAsRFC7578Writes() {
        let value = ParameterizedHeaderValue(#"form-data; name="file"; filename="a \"b\"; c.png""#)
        #expect(value.type == "form-data")
        #expect(value.parameters == ["name": "file", "filename": #"a "b"; c.png"#])
        #expect(MultipartForm.boundary(in: "multipart/form-data; charset=utf-8; BOUNDARY=\"x y\"") == "x y")
        #expect(MultipartForm.boundary(in: "multipart/form-data") == nil)
    }
}

extension HTTPFields {
    fileprivate func merging(_ other: HTTPFields) -> HTTPFields {
        var result = self
        for field in other { result[field.name] = field.value }
        return result
    }
}
