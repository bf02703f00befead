// Calls any method of a channel by its full name with one empty request
// message, whatever its kind (unary or streaming), and returns the status it
// ends with. The security tests use it to reach every method of a service
// descriptor without knowing its message types.
#pragma once

#include <chrono>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

namespace segtune::testing {

inline grpc::Status ProbeMethod(const std::shared_ptr<grpc::Channel>& channel, const std::string& method) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = stub.PrepareCall(&context, method, &queue);
  // One operation at a time: each waits for its own completion.
  const auto await = [&queue] {
    void* tag = nullptr;
    bool ok = false;
    queue.Next(&tag, &ok);
    return ok;
  };
  int tag = 0;
  call->StartCall(&tag);
  if (await()) {
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1);
    call->Write(request, &tag);
    if (await()) {
      call->WritesDone(&tag);
      await();
    }
    grpc::ByteBuffer response;
    do {
      call->Read(&response, &tag);
    } while (await());
  }
  grpc::Status status;
  call->Finish(&status, &tag);
  await();
  queue.Shutdown();
  void* ignored_tag = nullptr;
  bool ignored_ok = false;
  while (queue.Next(&ignored_tag, &ignored_ok)) {
  }
  return status;
}

}  // namespace segtune::testing
