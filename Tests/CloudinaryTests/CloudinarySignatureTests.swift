import Cloudinary
import Testing

@testable import ParleyTesting

@Suite("Cloudinary signature")
struct CloudinarySignatureTests {
    @Test func matchesCloudinarysDocumentedExample() {
        // https://cloudinary.com/documentation/authentication_signatures
        let parameters = [
            "eager": "w_400,h_300,c_pad|w_260,h_200,c_crop",
            "public_id": "sample_image",
            "timestamp": "1315060510",
        ]
        #expect(
            CloudinarySignature.stringToSign(parameters)
                == "eager=w_400,h_300,c_pad|w_260,h_200,c_crop&public_id=sample_image&timestamp=1315060510")
        #expect(CloudinarySignature.sign(parameters, secret: "abcd") == "bfd09f95f331f558cbd1320e67aa8d488770583e")
    }

    @Test func matchesCloudinarysSupportArticleExample() {
        let parameters = ["public_id": "sample_image", "timestamp": "1315060510"]
        #expect(CloudinarySignature.sign(parameters, secret: "abcd") == "b4ad47fb4e25c7bf5f92a20089f9db59bc302313")
    }

    @Test func signsWithSHA256WhenAsked() {
        let parameters = ["folder": "avatars", "overwrite": "true", "public_id": "user_42", "timestamp": "1315060510"]
        #expect(CloudinarySignature.sign(parameters, secret: "abcd") == "23a09849e33c95e59e317441642ae77059cdfbee")
        #expect(
            CloudinarySignature.sign(parameters, secret: "abcd", algorithm: .sha256)
                == "85a94de3dee62471b58a422e6114664c27ed6b4df1b0f736fbc13178c91ef03c")
    }

    @Test func leavesOutWhatCloudinaryDoesNotSign() {
        let parameters = [
            "public_id": "x", "timestamp": "1", "file": "data:…", "api_key": "k", "cloud_name": "c",
            "resource_type": "image", "signature": "s", "folder": "",
        ]
        #expect(CloudinarySignature.stringToSign(parameters) == "public_id=x&timestamp=1")
    }

    @Test func escapesAmpersandsInValues() {
        let parameters = ["context": "a&b", "public_id": "x", "timestamp": "1"]
        #expect(CloudinarySignature.stringToSign(parameters) == "context=a%26b&public_id=x&timestamp=1")
    }
}
