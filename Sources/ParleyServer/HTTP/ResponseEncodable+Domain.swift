import Hummingbird
import ParleyChat
import ParleyDomain

// What handlers return, encoded by ParleyResponseEncoder. The domain's types know nothing of
// HTTP; the server says they can be answers.

extension Message: ResponseEncodable {}
extension User: ResponseEncodable {}
extension Contact: ResponseEncodable {}
extension Group: ResponseEncodable {}
extension GroupDetails: ResponseEncodable {}
extension GroupMessage: ResponseEncodable {}
extension ConversationEntry: ResponseEncodable {}
