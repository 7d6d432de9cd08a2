const KAT_SIG_ADMIN_86400: &str = "4lUxqF/B+QS/FhzU388MWw47s2GIKgpTCF1WmWL/l5Y=";
const KAT_USERSIG_ADMIN_86400: &str = "eAEBpgBZ-3siVExTLnZlciI6IjIuMCIsIlRMUy5pZGVudGlmaWVyIjoiYWRtaW4iLCJUTFMuc2RrYXBwaWQiOjE0MDAwMDAwMDAsIlRMUy50aW1lIjoxNzAwMDAwMDAwLCJUTFMuZXhwaXJlIjo4NjQwMCwiVExTLnNpZyI6IjRsVXhxRi9CK1FTL0ZoelUzODhNV3c0N3MyR0lLZ3BUQ0YxV21XTC9sNVk9In1uyS9t";
const KAT_LIBRARY_LAYOUTS: &[(&str, &str)] = &[
    (
        "LIB-py (spaced, default level)",
        "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-NgUsUp2YkFBZkpQAlDEwMogMqlVhRkFqUCZSzMTOCCJZm5ICFDczTFxZnpIMNNckIrCt30nbQDg-XdMqpCjS0sfMPLTcyLjdw9vdMLQpzdDMNzw330c0wjbZVqAeD3MM0_",
    ),
    (
        "LIB-node (compact, default level)",
        "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5UInilOzEgoLMFCUrQxMDKIDIlGTmpgJFzVFFUysKMouA4hZmJjCh4sx0oKEmOaEVhW76TtqBwfpuGVWhxhYWvuHlJubFRu6e3ukFIc5uhuG54T76OaaRtkq1AG7JL20_",
    ),
    (
        "LIB-cpp (sdkappid first)",
        "eJyrVgrxCdYrSy1SslIy0jNQ0gHzi1OyEwsKMlOUrAxNDKAAIpOZkppXkpmWCdaQmJKbmQfVUpKZmwpUbo6qPLWiILMIKG5hZgITKs5MB2o1yQmtKHTTd9IODNZ3y6gKNbaw8A0vNzEvNnL39E4vCHF2MwzPDffRzzGNtFWqBQBHyy9t",
    ),
    (
        "LIB-go (trailing newline, level 0)",
        "eAEBpwBY-3siVExTLmV4cGlyZSI6ODY0MDAsIlRMUy5pZGVudGlmaWVyIjoiYWRtaW4iLCJUTFMuc2RrYXBwaWQiOjE0MDAwMDAwMDAsIlRMUy5zaWciOiI0bFV4cUYvQitRUy9GaHpVMzg4TVd3NDdzMkdJS2dwVENGMVdtV0wvbDVZPSIsIlRMUy50aW1lIjoxNzAwMDAwMDAwLCJUTFMudmVyIjoiMi4wIn0KPaIvdw__",
    ),
    (
        "LIB-php (escaped slashes)",
        "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5UInilOzEgoLMFCUrQxMDKIDIpFYUZBalKllZmJnAhEoyc4EChuaoCosz04GGmuSEVhS6xeg7aQcGx*i7ZVSFGltY*IaXm5gXG7l7eqcXhDi7GYbnhvvE6OeYRtoq1QIAE6QwgQ__",
    ),
];
