// `get` of a global that nothing defines.
rsgi::deploy! {
    [DEFAULT]
    fault_key = "computeFault"

    [filter:faultwrap]
    use = rsgi::filters::FaultWrapFilter
    get fault_key = falt_key
}

fn main() {}
