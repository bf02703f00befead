#include "rpc_timing.h"

#include <chrono>

#include <google/protobuf/descriptor.h>
#include <prometheus/histogram.h>

#include "absl/strings/str_cat.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::api {
namespace {

class RpcTimingInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RpcTimingInterceptor(prometheus::Histogram* histogram)
      : histogram_(histogram), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      histogram_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  prometheus::Histogram* const histogram_;
  const std::chrono::steady_clock::time_point start_;
};

}  // namespace

grpc::experimental::Interceptor* RpcTimingInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  prometheus::Histogram* histogram = metrics_->RpcHistogram(info->method());
  // gRPC skips a null interceptor: calls we do not count cost nothing.
  return histogram == nullptr ? nullptr : new RpcTimingInterceptor(histogram);
}

std::vector<std::string> SegtuneRpcMethods() {
  std::vector<std::string> methods;
  for (const char* name : {v1::Tuner::service_full_name(), v1::WorkerHub::service_full_name()}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
      methods.push_back(absl::StrCat("/", name, "/", service->method(i)->name()));
    }
  }
  return methods;
}

}  // namespace segtune::api
